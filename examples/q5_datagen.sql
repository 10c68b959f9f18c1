-- q5 over 1,000,000 generated bids (the benchmark's rows, no file needed): bid count per auction
-- per 10-second tumbling event-time window.
CREATE TABLE bid (
  auction   BIGINT,
  bidder    BIGINT,
  price     BIGINT,
  channel   STRING,
  url       STRING,
  date_time TIMESTAMP(3),
  extra     STRING,
  WATERMARK FOR date_time AS date_time - INTERVAL '0.001' SECOND
) WITH (
  'connector' = 'datagen',
  'generator' = 'bids',
  'number-of-rows' = '1000000'
);
CREATE TABLE sink_q5 (
  auction BIGINT, window_start TIMESTAMP(3), window_end TIMESTAMP(3), num BIGINT
) WITH ('connector' = 'blackhole');
INSERT INTO sink_q5
SELECT auction, window_start, window_end, COUNT(*) AS num
FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '10' SECOND))
GROUP BY auction, window_start, window_end;
