//! GitHub REST API simulator backed by real bare git repositories served over smart HTTP.
