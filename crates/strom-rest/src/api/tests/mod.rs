//! Tests of the job resources through a served cluster.

mod job_endpoints;
mod job_extras;
