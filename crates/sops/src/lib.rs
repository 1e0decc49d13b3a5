//! Native SOPS+age: reads and writes files that real sops 3.11 produces and accepts.
