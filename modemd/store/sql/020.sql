-- job_parts_state goes: no query reads it (parts are found by device and reference, by job, or counted by device or SIM), and a report's move rewrote two of its pages
DROP INDEX job_parts_state
