/**
 * The metric contract between the router (which emits it as EMF) and the stack (which scales on it):
 * the name is written once so auto scaling's target tracking reads what the router writes.
 */
export const ROUTER_METRIC = "RouterActiveStreams";
