// The paths this plugin serves: build.sh turns them into the server's
// routes (echo-js-sdk.toml). A {name} segment (or :name) is a parameter,
// in this.scope.params.
import { route } from "wasmsock";
import { EchoConsumer } from "./consumers.js";

export const routes = [route("/echo-js-sdk", EchoConsumer)];
