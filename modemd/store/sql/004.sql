-- delivery reports in model terms: outcome and detail; TP-Status only from modems
CREATE TABLE status_reports_v4 (
    report_id INTEGER PRIMARY KEY,
    device_id TEXT NOT NULL,
    mr INTEGER NOT NULL,             -- the part's reference (a modem's TP-MR)
    recipient TEXT NOT NULL,
    outcome TEXT NOT NULL,           -- delivered | pending | failed
    detail TEXT NOT NULL,            -- plain words: 'TP-Status 0x45', the app's state
    tp_status INTEGER,               -- NULL: the device gave no TP-Status (a phone)
    job_id TEXT,                     -- NULL: matched no sent part (kept, logged)
    received_at REAL NOT NULL
);
INSERT INTO status_reports_v4
    SELECT report_id, device_id, mr, recipient,
        CASE WHEN tp_status < 32 THEN 'delivered' WHEN tp_status < 64 THEN 'pending'
             WHEN tp_status < 128 THEN 'failed' ELSE 'pending' END,
        printf('TP-Status 0x%02X', tp_status), tp_status, job_id, received_at
    FROM status_reports;
DROP TABLE status_reports;
ALTER TABLE status_reports_v4 RENAME TO status_reports
