-- running counts of each pool's parts per local day, kept in the send's own commit: a claim in a pool with caps reads at most a month's rows, not the month's jobs
CREATE TABLE pool_days (
    pin TEXT NOT NULL,  -- the pool of the jobs sent
    day TEXT NOT NULL,  -- the local date the parts were sent, YYYY-MM-DD
    parts INTEGER NOT NULL,
    PRIMARY KEY (pin, day)
);
INSERT INTO pool_days (pin, day, parts)
SELECT pin, date(sent_at, 'unixepoch', 'localtime'), SUM(parts)
FROM jobs WHERE sent_at IS NOT NULL
GROUP BY pin, date(sent_at, 'unixepoch', 'localtime')
