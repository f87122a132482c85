-- a received SMS finds the job it answers by its pool and number (jobs_pin_to): the reply match read every job of the last 30 days of every key for a sender with none
CREATE INDEX jobs_pin_to ON jobs(pin, to_number);
