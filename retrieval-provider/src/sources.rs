//! Where the provider's events come from (spec §5).
