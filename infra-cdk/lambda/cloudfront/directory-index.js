// CloudFront Function (cloudfront-js-2.0), viewer request.
// Serves "pages" the way the local nginx `try_files` did, generalised:
//   /                -> /index.html
//   /account/        -> /account/index.html
//   /account         -> /account/index.html      (any path whose last segment has no dot)
//   /js/app-1.2.js   -> unchanged                (files keep their path)
// The storefront upload therefore stores every page as <path>/index.html.
function handler(event) {
  var request = event.request;
  var uri = request.uri;
  if (uri.charAt(uri.length - 1) === '/') {
    request.uri = uri + 'index.html';
  } else if (uri.substring(uri.lastIndexOf('/') + 1).indexOf('.') === -1) {
    request.uri = uri + '/index.html';
  }
  return request;
}
