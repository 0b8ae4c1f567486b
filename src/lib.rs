//! fedca
