//! The OpenAPI document: its header, and the operations of routes mounted on a second path.

use utoipa::openapi::path::Operation;
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{InfoBuilder, LicenseBuilder, OpenApi, OpenApiBuilder};
use utoipa_axum::router::OpenApiRouter;

/// What a service's document says about the service itself.
pub struct ApiHeader {
    pub title: &'static str,
    /// The crate version.
    pub version: &'static str,
    pub description: &'static str,
    /// `(name, description)` of each tag.
    pub tags: &'static [(&'static str, &'static str)],
}

impl ApiHeader {
    /// The document's header (Apache-2.0), without paths: the routes add their own.
    pub fn openapi(&self) -> OpenApi {
        let info = InfoBuilder::new()
            .title(self.title)
            .version(self.version)
            .description(Some(self.description))
            .license(Some(LicenseBuilder::new().name("Apache-2.0").build()))
            .build();
        let tags = self
            .tags
            .iter()
            .map(|(name, description)| {
                TagBuilder::new()
                    .name(*name)
                    .description(Some(*description))
                    .build()
            })
            .collect::<Vec<_>>();
        OpenApiBuilder::new().info(info).tags(Some(tags)).build()
    }
}

/// Every operation in a document, with its method in upper case (`GET`).
pub fn operations_mut(api: &mut OpenApi) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    api.paths.paths.values_mut().flat_map(|item| {
        [
            ("GET", &mut item.get),
            ("PUT", &mut item.put),
            ("POST", &mut item.post),
            ("DELETE", &mut item.delete),
            ("OPTIONS", &mut item.options),
            ("HEAD", &mut item.head),
            ("PATCH", &mut item.patch),
            ("TRACE", &mut item.trace),
        ]
        .into_iter()
        .filter_map(|(method, operation)| operation.as_mut().map(|op| (method, op)))
    })
}

/// `router` with `edit` applied to the documentation of each of its operations (and its method): for
/// the same handlers mounted on a second path, which need their own operation ids (one id per operation
/// in a document).
pub fn edit_operations<S>(
    mut router: OpenApiRouter<S>,
    mut edit: impl FnMut(&str, &mut Operation),
) -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    for (method, operation) in operations_mut(router.get_openapi_mut()) {
        edit(method, operation);
    }
    router
}
