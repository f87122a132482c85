-- caps follow the SIM: each sent part keeps the ICCID it went out on
-- the SIM (ICCID) that sent the part, empty for a device without one (a phone)
ALTER TABLE job_parts ADD COLUMN iccid TEXT NOT NULL DEFAULT '';
UPDATE job_parts SET iccid = COALESCE(
    (SELECT d.iccid FROM devices d WHERE d.device_id = job_parts.device_id), '');
CREATE INDEX job_parts_iccid_sent ON job_parts(iccid, sent_at);
CREATE INDEX jobs_pin_sent ON jobs(pin, sent_at)
