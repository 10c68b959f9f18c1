-- Updating results: bids and top price per auction over the whole stream (a non-windowed
-- GROUP BY emits +I/-U/+U changes), written as upserts keyed by auction to 'auction_totals'.
CREATE TABLE bids (
  auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, url STRING,
  date_time TIMESTAMP(3), extra STRING
) WITH (
  'connector' = 'kafka', 'topic' = 'bids', 'properties.bootstrap.servers' = '${KAFKA}',
  'properties.group.id' = 'strom-totals', 'scan.startup.mode' = 'earliest-offset',
  'format' = 'json'
);
CREATE TABLE auction_totals (
  auction BIGINT, num BIGINT, top BIGINT, PRIMARY KEY (auction) NOT ENFORCED
) WITH (
  'connector' = 'upsert-kafka', 'topic' = 'auction_totals',
  'properties.bootstrap.servers' = '${KAFKA}', 'key.format' = 'json', 'value.format' = 'json'
);
SET 'table.exec.mini-batch.enabled' = 'true';
INSERT INTO auction_totals SELECT auction, COUNT(*) AS num, MAX(price) AS top FROM bids GROUP BY auction;
