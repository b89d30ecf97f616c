"""kizuna: real-time cyber-threat-indicator sharing on Apache Kafka."""
