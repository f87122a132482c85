-- an index of the unmatched status reports: recording each send looks there for early ones
CREATE INDEX status_reports_unmatched ON status_reports(device_id, mr) WHERE job_id IS NULL
