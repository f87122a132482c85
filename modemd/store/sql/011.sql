-- each key chooses the IPN event types it receives
-- a JSON list of event types, NULL: every type of before inbound SMS (all but
-- sms.received), so receivers written for them get nothing new unasked
ALTER TABLE api_keys ADD COLUMN events TEXT
