//! srv
