"""MQTT: topics, payloads and their JSON Schemas, the outbox in the store, and the
publisher that empties it into a broker. Only `connection.py`, `publisher.py` and
`tail.py` import paho-mqtt; the sink that wires them is `inspector.sinks.mqtt`."""

__all__: list[str] = []  # import the modules: `mqtt.topics`, `mqtt.payloads`, ...
