"""PLC link over Modbus TCP: register map, handshake, server and client modes, trigger.

`registers` and `handshake` need nothing beyond the standard library; `server`, `client`
and `link` need pymodbus.
"""
