"""Published worked examples: the data, as printed, with where they are printed.

Montgomery = D. C. Montgomery, Introduction to Statistical Quality Control (chapter 6:
variables charts, 7: attributes charts, 9: CUSUM and EWMA; example numbers as in the
6th edition, from memory where marked so: the data and the results are what is
checked). NIST = NIST/SEMATECH e-Handbook of Statistical Methods, section 6.3. The R
package qcc ships several of Montgomery's data sets under the names given.

Written down without the books at hand: every data set here reproduces its published
totals exactly (the sums the books print, e.g. 347 defectives, 516 nonconformities,
0.581 for the ranges), which a mistyped value would not.
"""

from __future__ import annotations

# Montgomery Example 7.1; qcc `orangejuice`, samples 1-30 (trial): nonconforming frozen
# orange juice cans in 30 samples of 50. Published: p-bar = 0.2313, UCL = 0.4102,
# LCL = 0.0524, samples 15 and 23 above the UCL. With those two removed (assignable
# causes): p-bar = 0.2150, UCL = 0.3893, LCL = 0.0407, and sample 21 is above it.
ORANGEJUICE_D = [
    12, 15, 8, 10, 4, 7, 16, 9, 14, 10, 5, 6, 17, 12, 22,
    8, 10, 5, 13, 11, 20, 18, 24, 15, 9, 12, 7, 13, 9, 6,
]  # fmt: skip
ORANGEJUICE_N = 50

# Montgomery, chapter 7, variable sample size (example number from memory): purchase
# orders with errors, 25 samples of varying size.
# Published: p-bar = 234 / 2450 = 0.096; limits per sample, e.g. n = 100: UCL 0.184,
# LCL 0.008; n = 80: UCL 0.195, LCL 0 (computed by the book with p-bar rounded to 0.096).
PURCHASE_ORDERS_D = [
    12, 8, 6, 9, 10, 12, 11, 16, 10, 6, 20, 15, 9, 8, 6, 8, 10, 7, 5, 8, 5, 8, 10, 6, 9,
]  # fmt: skip
PURCHASE_ORDERS_N = [
    100, 80, 80, 100, 110, 110, 100, 100, 90, 90, 110, 120, 120, 120, 110,
    80, 80, 80, 90, 100, 100, 100, 100, 90, 90,
]  # fmt: skip

# Montgomery, chapter 7, c chart (Table 7.7 from memory); qcc `circuit`, samples 1-26
# (trial): nonconformities in 26 samples of 100 printed circuit boards. Published: c-bar = 19.85,
# UCL = 33.22, LCL = 6.48; sample 6 below the LCL, sample 20 above the UCL.
CIRCUIT = [
    21, 24, 16, 12, 15, 5, 28, 20, 31, 25, 20, 24, 16,
    19, 10, 17, 13, 22, 18, 39, 30, 24, 16, 19, 17, 15,
]  # fmt: skip

# NIST 6.3.3.1 ("Counts control charts"; section number from memory): defects on 25
# wafers. Published: c-bar = 16, UCL = 28, LCL = 4 (400 defects in all).
NIST_WAFER_DEFECTS = [
    16, 14, 28, 16, 12, 20, 10, 12, 10, 17, 19, 17, 14,
    16, 15, 13, 14, 16, 11, 20, 11, 19, 16, 31, 13,
]  # fmt: skip

# Montgomery, chapter 7, u chart (example number from memory): nonconformities in 20
# samples of 5 personal computers.
# Published: u-bar = 1.93, UCL = 3.80, LCL = 0.07 (193 nonconformities in 100 units).
COMPUTERS = [10, 12, 8, 14, 10, 16, 11, 7, 10, 15, 9, 5, 7, 11, 12, 6, 8, 10, 7, 5]
COMPUTERS_N = 5

# Montgomery Example 6.5: cost of processing mortgage loan applications, 20 weeks.
# Published: x-bar = 300.5, MR-bar = 7.79, I chart UCL = 321.22, LCL = 279.78;
# MR chart UCL = 25.45, LCL = 0; in control.
LOAN_COSTS = [
    310, 288, 297, 298, 307, 303, 294, 297, 308, 306,
    294, 299, 297, 299, 314, 295, 293, 306, 301, 304,
]  # fmt: skip

# Montgomery Examples 6.1 and 6.3 (Table 6.3); qcc `pistonrings`, samples 1-25: inside
# diameter of forged piston rings, 25 samples of 5. Published: x-bar-bar = 74.001,
# R-bar = 0.023 (0.581 / 25), Xbar chart (from R) 73.988 .. 74.014, R chart 0 .. 0.049;
# s-bar = 0.0094, Xbar chart (from s) 73.988 .. 74.014, S chart 0 .. 0.0196; in control.
PISTONRINGS = [
    [74.030, 74.002, 74.019, 73.992, 74.008],
    [73.995, 73.992, 74.001, 74.011, 74.004],
    [73.988, 74.024, 74.021, 74.005, 74.002],
    [74.002, 73.996, 73.993, 74.015, 74.009],
    [73.992, 74.007, 74.015, 73.989, 74.014],
    [74.009, 73.994, 73.997, 73.985, 73.993],
    [73.995, 74.006, 73.994, 74.000, 74.005],
    [73.985, 74.003, 73.993, 74.015, 73.988],
    [74.008, 73.995, 74.009, 74.005, 74.004],
    [73.998, 74.000, 73.990, 74.007, 73.995],
    [73.994, 73.998, 73.994, 73.995, 73.990],
    [74.004, 74.000, 74.007, 74.000, 73.996],
    [73.983, 74.002, 73.998, 73.997, 74.012],
    [74.006, 73.967, 73.994, 74.000, 73.984],
    [74.012, 74.014, 73.998, 73.999, 74.007],
    [74.000, 73.984, 74.005, 73.998, 73.996],
    [73.994, 74.012, 73.986, 74.005, 74.007],
    [74.006, 74.010, 74.018, 74.003, 74.000],
    [73.984, 74.002, 74.003, 74.005, 73.997],
    [74.000, 74.010, 74.013, 74.020, 74.003],
    [73.982, 74.001, 74.015, 74.005, 73.996],
    [74.004, 73.999, 73.990, 74.006, 74.009],
    [74.010, 73.989, 73.990, 74.009, 74.014],
    [74.015, 74.008, 73.993, 74.000, 74.010],
    [73.982, 73.984, 73.995, 74.017, 74.013],
]

# Montgomery Examples 9.1 and 9.2 (Table 9.1): 30 observations, the first 20 from
# N(10, 1), the last 10 from N(11, 1). Tabular CUSUM with mu0 = 10, sigma = 1, k = 0.5,
# h = 5: published C+ reaches 5.28 at observation 29, the first past H = 5. EWMA with
# lambda = 0.1, L = 2.7: published z1 = 9.945, UCL 10.27 at i = 1 and 10.36 at i = 2.
MONTGOMERY_9_1 = [
    9.45, 7.99, 9.29, 11.66, 12.16, 10.18, 8.04, 11.46, 9.20, 10.34,
    9.03, 11.47, 10.51, 9.40, 10.08, 9.37, 10.62, 10.31, 8.52, 10.84,
    10.90, 9.33, 12.29, 11.50, 10.60, 11.08, 10.38, 11.62, 11.31, 10.52,
]  # fmt: skip

# NIST 6.3.2.4 (EWMA control charts): 20 measurements, target 50, s = 2.0539,
# lambda = 0.3, k = 3. Published: the EWMA series 50.60, 49.52, 50.56, 50.18, 50.16,
# 49.21, 49.75, 49.85, 50.26, 50.33, 50.11, 49.36, 49.52, 50.05, 49.38, 49.92, 50.73,
# 51.23, 51.94, 51.99 and the (asymptotic) limits 47.4115 .. 52.5884.
NIST_EWMA = [
    52.0, 47.0, 53.0, 49.3, 50.1, 47.0, 51.0, 50.1, 51.2, 50.5,
    49.6, 47.6, 49.9, 51.3, 47.8, 51.2, 52.6, 52.4, 53.6, 52.1,
]  # fmt: skip
NIST_EWMA_Z = [
    50.60, 49.52, 50.56, 50.18, 50.16, 49.21, 49.75, 49.85, 50.26, 50.33,
    50.11, 49.36, 49.52, 50.05, 49.38, 49.92, 50.73, 51.23, 51.94, 51.99,
]  # fmt: skip
