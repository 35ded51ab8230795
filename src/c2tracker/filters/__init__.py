"""False-positive filters applied when a run is finished: bogons, the operator allowlist and
honeypot detection. Each filter says *why* it dropped or flagged something; the store records
that reason beside the observation or the indicator's status.
"""
