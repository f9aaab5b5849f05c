"""The connector plane: contracts of the built-in connectors, and their implementations."""
