-- q5 over 2,000,000 generated bids at 50,000 rows/s (40 s), checkpointed every second, into CSV
-- files in /tmp/strom-q5-out exactly once: a part file becomes visible when the checkpoint after
-- its rows completes, and a restart from a checkpoint neither loses nor repeats a row.
SET 'execution.checkpointing.interval' = '1s';
SET 'state.checkpoints.num-retained' = '2';
SET 'restart-strategy.type' = 'fixed-delay';
SET 'restart-strategy.fixed-delay.attempts' = '10';
SET 'restart-strategy.fixed-delay.delay' = '1 s';
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
  'number-of-rows' = '2000000',
  'rows-per-second' = '50000'
);
CREATE TABLE sink_q5 (
  auction BIGINT, window_start TIMESTAMP(3), window_end TIMESTAMP(3), num BIGINT
) WITH ('connector' = 'filesystem', 'path' = '/tmp/strom-q5-out', 'format' = 'csv');
INSERT INTO sink_q5
SELECT auction, window_start, window_end, COUNT(*) AS num
FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '10' SECOND))
GROUP BY auction, window_start, window_end;
