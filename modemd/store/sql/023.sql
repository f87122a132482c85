-- job_parts_mr holds only the parts still awaiting a report (the only ones a report's match reads): it was every part ever sent, a leaf at random (by TP-MR) written per send
DROP INDEX job_parts_mr;
CREATE INDEX job_parts_mr ON job_parts(device_id, mr, sent_at) WHERE state IN ('sent', 'pending')
