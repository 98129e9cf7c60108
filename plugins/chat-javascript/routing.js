// One room per path segment: /chat-js/lobby, /chat-js/attic, ...
import { route } from "wasmsock";
import { ChatConsumer } from "./consumers.js";

export const routes = [route("/chat-js/{room}", ChatConsumer)];
