//! The Filecoin retrieval provider deal machine, ported from go-fil-markets v1.28.3.
