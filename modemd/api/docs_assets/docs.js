// The /docs page: Swagger UI (vendored swagger-ui-dist, see swagger-ui/LICENSE) rendering
// /openapi.json with request bodies, examples and "Try it out" against this daemon.
"use strict";
window.addEventListener("DOMContentLoaded", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    docExpansion: "list",
    defaultModelsExpandDepth: 0,
    displayRequestDuration: true,
    filter: true,
    validatorUrl: null,  // never ask an outside validator about our document
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
