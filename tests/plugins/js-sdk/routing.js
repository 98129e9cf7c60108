// The test routes: {param} and :param segments.
import { route } from "wasmsock";
import { AsyncConsumer, Closer, JsonEcho, Refuser, Room, ScopeReport } from "./consumers.js";

export const routes = [
  route("/js/refuse/{how}", Refuser),
  route("/js/async/:how", AsyncConsumer),
  route("/js/scope/{room}/{n}", ScopeReport),
  route("/js/close", Closer),
  route("/js/json", JsonEcho),
  route("/js/room/{room}", Room),
];
