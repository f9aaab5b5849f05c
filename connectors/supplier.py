"""Purchase orders to the supplier, written as order files to the supplier outbox."""
