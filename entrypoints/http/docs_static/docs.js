// The API reference: Swagger UI (the swagger-ui-bundle package's, served from /schema/assets) over the OpenAPI
// document the page embeds. The page is sandboxed (an opaque origin), so nothing here may fetch or store:
// no validator badge (it calls a remote service), no "Try it out" (it would call the API), no deep links
// (history.replaceState refuses an opaque origin's URL changes).
"use strict";

(() => {
  const embedded = document.getElementById("openapi-document");
  window.SwaggerUIBundle({
    spec: JSON.parse(embedded.textContent),
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    presets: [window.SwaggerUIBundle.presets.apis],
    deepLinking: false,
    validatorUrl: null,
    supportedSubmitMethods: [],
    tryItOutEnabled: false,
    persistAuthorization: false,
    displayOperationId: true,
    displayRequestDuration: false,
    docExpansion: "list",
    defaultModelsExpandDepth: 0,
  });
})();
