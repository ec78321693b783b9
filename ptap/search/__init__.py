"""One search across a patient's coordination file (plan versions, meeting decisions, letters,
messages, DMP filings, pathway events and the timeline), need-to-know applied to every hit."""
