"""Two-way conversations, sans-IO: what to do with an inbound SMS (opt-out, JOIN, keyword
rules, survey answers) decided from plain values; CSV of list members. The store applies the
decisions, the runtime sends the replies."""
