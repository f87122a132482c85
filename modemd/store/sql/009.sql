-- device health: operator, registration, own number, last error and success, recovery
-- what a health check and the recovery ladder learnt (comments before each statement:
-- ADD COLUMN copies its text into the table's schema)
-- AT+COPS? long name, home or roaming or searching ..., AT+CNUM when the SIM knows it
ALTER TABLE devices ADD COLUMN operator TEXT;
ALTER TABLE devices ADD COLUMN registration TEXT;
ALTER TABLE devices ADD COLUMN own_number TEXT;
-- why it last failed (plain words) and when, and its last send the network took
ALTER TABLE devices ADD COLUMN last_error TEXT;
ALTER TABLE devices ADD COLUMN last_error_at REAL;
ALTER TABLE devices ADD COLUMN last_success_at REAL;
-- the recovery step that last revived it
ALTER TABLE devices ADD COLUMN recovered_after TEXT
