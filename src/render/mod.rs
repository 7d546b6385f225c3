//! Printers over one model: human (Terraform's conventions), JSON, markdown.

pub mod drift;
