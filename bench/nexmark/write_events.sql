-- Writes the events of the `nexmark` table of ddl_gen.sql (with ddl_views.sql's views) to CSV
-- files under ${EVENTS_DIR}: person/, auction/ and bid/, the tables of ddl_files.sql.
CREATE TABLE person_out (
    id BIGINT, name VARCHAR, emailAddress VARCHAR, creditCard VARCHAR, city VARCHAR,
    state VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR
) WITH ('connector' = 'filesystem', 'path' = '${EVENTS_DIR}/person', 'format' = 'csv');

CREATE TABLE auction_out (
    id BIGINT, itemName VARCHAR, description VARCHAR, initialBid BIGINT, reserve BIGINT,
    `dateTime` TIMESTAMP(3), expires TIMESTAMP(3), seller BIGINT, category BIGINT, extra VARCHAR
) WITH ('connector' = 'filesystem', 'path' = '${EVENTS_DIR}/auction', 'format' = 'csv');

CREATE TABLE bid_out (
    auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
    `dateTime` TIMESTAMP(3), extra VARCHAR
) WITH ('connector' = 'filesystem', 'path' = '${EVENTS_DIR}/bid', 'format' = 'csv');

EXECUTE STATEMENT SET
BEGIN
INSERT INTO person_out SELECT * FROM person;
INSERT INTO auction_out SELECT * FROM auction;
INSERT INTO bid_out SELECT * FROM bid;
END;
