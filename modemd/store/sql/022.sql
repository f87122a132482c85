-- status reports by job (matched ones only): retention deletes a job's reports without reading the whole table
CREATE INDEX status_reports_job ON status_reports(job_id) WHERE job_id IS NOT NULL
