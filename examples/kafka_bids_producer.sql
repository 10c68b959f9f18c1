-- Real-time demo, step 1: an endless stream of bids into the Kafka topic 'bids' (JSON),
-- 20,000 rows per second (event time advances 2 s per wall-clock second). Runs until Ctrl-C.
-- Broker address: ${KAFKA} (for example 127.0.0.1:9092).
CREATE TABLE gen (
  auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, url STRING,
  date_time TIMESTAMP(3), extra STRING
) WITH ('connector' = 'datagen', 'generator' = 'bids', 'rows-per-second' = '20000');
CREATE TABLE bids (
  auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, url STRING,
  date_time TIMESTAMP(3), extra STRING
) WITH (
  'connector' = 'kafka', 'topic' = 'bids', 'properties.bootstrap.servers' = '${KAFKA}',
  'format' = 'json'
);
INSERT INTO bids SELECT * FROM gen;
