"""DMP filings, the web side: who sees and acts on the outbox rows, their pages and API.

The DMP bridge (``ptap.dmp_bridge``) owns the outbox and knows nothing of care teams; this
package decides who may see a patient's filings (need-to-know), who may retry, cancel or
release them (the patient's coordinators and the row's team coordinators), and audits it.
"""
