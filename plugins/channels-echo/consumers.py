"""channels-echo: a Django Channels consumer served by wasmsock. It accepts
every connection, sends every message back unchanged (text stays text,
binary stays binary) and prints each disconnect with its close code: print()
reaches the server's log. Change it as you would under Channels."""

from channels.generic.websocket import WebsocketConsumer


class EchoConsumer(WebsocketConsumer):
    def connect(self):
        # self.close() here, or not accepting, refuses the handshake (403).
        self.accept()
        print(f"connect {self.scope['path']} from {self.scope['client'][0]}")

    def receive(self, text_data=None, bytes_data=None):
        if text_data is not None:
            self.send(text_data=text_data)
        else:
            self.send(bytes_data=bytes_data)

    def disconnect(self, code):
        print(f"disconnect: code {code}")
