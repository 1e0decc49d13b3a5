//! Integration tests of the factory's first steps: the architect against the LLM simulator (with usage
//! recorded in a real PostgreSQL), and repository setup against the GitHub simulator on real git.

mod architect;
mod repository;
mod support;
