"""The named property that carries a CRM record's id on the items the CRM writes or links,
the same on every protocol (EWS: `ews/stamp.py`; Graph: a single-value extended property),
so an item stamped over one protocol is found over the other."""

# crmsync's MAPI property set; never change it, or items stamped before are not found.
PROPERTY_SET_ID = "0b1f4e2c-6d0a-4c53-9a57-63726d73796e"
PROPERTY_NAME = "CrmRecordId"
