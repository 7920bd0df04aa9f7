//! What the aggregator decides itself: which credit-check route a report type maps to, and how to call
//! it through the gateway.

pub mod gateway;
pub mod gateway_error;
pub mod gateway_metrics;
pub mod report_type;

pub use gateway::CreditCheckGateway;
pub use gateway_error::GatewayError;
pub use report_type::{RequestedReport, UnknownReportType};
