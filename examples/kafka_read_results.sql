-- Real-time demo, step 3: print what the topic 'q5_results' holds now (a bounded read up to the
-- offsets current at job start): the auction-windows with at least 10 bids.
CREATE TABLE q5_results (
  auction BIGINT, window_start TIMESTAMP(3), window_end TIMESTAMP(3), num BIGINT
) WITH (
  'connector' = 'kafka', 'topic' = 'q5_results', 'properties.bootstrap.servers' = '${KAFKA}',
  'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset',
  'format' = 'json'
);
SELECT auction, window_start, window_end, num FROM q5_results WHERE num >= 10;
