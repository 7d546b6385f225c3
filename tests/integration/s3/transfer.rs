//! `state pull | push | migrate` and `force-unlock` on S3.
