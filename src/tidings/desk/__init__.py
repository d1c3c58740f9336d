"""The help desk domain. These services are the only code that changes desk data,
and each one records its events in the transaction it was handed."""
