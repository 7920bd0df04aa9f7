//! The KYC API: the customer resource at `/kyc/v1/customer`, and again at the original's ingress path.

pub mod audit;
pub mod customer;

use kyc_common::http::docs::edit_operations;
use utoipa_axum::router::OpenApiRouter;

use customer::AppState;

pub const CUSTOMER_PATH: &str = "/kyc/v1/customer";
/// The original's path (behind its ingress), kept for its clients.
pub const INGRESS_CUSTOMER_PATH: &str = "/ingress/kyc/v1/customer";

/// Both paths, the same handlers; the alias's operations are documented as such, with their own ids
/// (`get_ingress_customer`, `post_ingress_customer`).
pub fn router() -> OpenApiRouter<AppState> {
    let ingress = edit_operations(customer::routes(), |method, op| {
        op.operation_id = op
            .operation_id
            .as_deref()
            .map(|id| id.replace("_customer", "_ingress_customer"));
        op.summary = Some(format!(
            "The original's ingress path: same as `{method} {CUSTOMER_PATH}`."
        ));
        op.description = None;
    });
    OpenApiRouter::new()
        .nest(CUSTOMER_PATH, customer::routes())
        .nest(INGRESS_CUSTOMER_PATH, ingress)
}
