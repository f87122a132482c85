-- running counts of each SIM's parts per local day, kept in the send's own commit: the caps check and every /metrics scrape read at most a month's rows, not the month's parts, and the two job_parts indexes that served those counts go (two leaves fewer written per part)
CREATE TABLE sim_days (
    iccid TEXT NOT NULL,  -- the SIM, or '' for a device without a readable ICCID (a phone)
    device_id TEXT NOT NULL,  -- '' when the ICCID says whose parts these are
    day TEXT NOT NULL,  -- the local date the parts were sent, YYYY-MM-DD
    parts INTEGER NOT NULL,
    PRIMARY KEY (iccid, device_id, day)
);
INSERT INTO sim_days (iccid, device_id, day, parts)
SELECT iccid, CASE WHEN iccid = '' THEN device_id ELSE '' END,
       date(sent_at, 'unixepoch', 'localtime'), COUNT(*)
FROM job_parts WHERE sent_at IS NOT NULL
GROUP BY iccid, CASE WHEN iccid = '' THEN device_id ELSE '' END,
         date(sent_at, 'unixepoch', 'localtime');
DROP INDEX job_parts_iccid_sent;
DROP INDEX job_parts_device_sent
