-- Real-time demo, step 2: q5 (bids per auction per 10 s event-time window) from the topic
-- 'bids' to the topic 'q5_results', as an unbounded job (Ctrl-C, or `strom cancel`, ends it).
-- Each of the 4 partitions has its own watermark; an empty one goes idle after 5 s.
CREATE TABLE bids (
  auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, url STRING,
  date_time TIMESTAMP(3), extra STRING,
  WATERMARK FOR date_time AS date_time - INTERVAL '1' SECOND
) WITH (
  'connector' = 'kafka', 'topic' = 'bids', 'properties.bootstrap.servers' = '${KAFKA}',
  'properties.group.id' = 'strom-q5', 'scan.startup.mode' = 'earliest-offset',
  'scan.watermark.idle-timeout' = '5 s', 'format' = 'json'
);
CREATE TABLE q5_results (
  auction BIGINT, window_start TIMESTAMP(3), window_end TIMESTAMP(3), num BIGINT
) WITH (
  'connector' = 'kafka', 'topic' = 'q5_results', 'properties.bootstrap.servers' = '${KAFKA}',
  'format' = 'json'
);
INSERT INTO q5_results
SELECT auction, window_start, window_end, COUNT(*) AS num
FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(date_time), INTERVAL '10' SECOND))
GROUP BY auction, window_start, window_end;
