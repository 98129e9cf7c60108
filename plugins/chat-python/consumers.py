"""chat-python: the Django Channels tutorial's room chat, served by
wasmsock. The consumer is the tutorial's ChatConsumer (a sync consumer
calling the channel layer through async_to_sync, with a chat_message
handler for the group's events), speaking the same JSON as the Rust chat
plugin (plugins/chat), so one client talks to either:

    in:  {"message": "hi"} (the tutorial's client) or plain text
    out: {"type": "message", "name": "alice", "text": "hi"}
         {"type": "join", "name": "alice"} and {"type": "leave", ...}

A connection's name is the query's name=NAME (32 characters at most), or
guest-N. Groups belong to one plugin: this room and the Rust chat's room of
the same name are two rooms."""

import json
from urllib.parse import parse_qs

from asgiref.sync import async_to_sync
from channels.generic.websocket import WebsocketConsumer

MAX_NAME = 32


class ChatConsumer(WebsocketConsumer):
    def connect(self):
        self.room_name = self.scope["url_route"]["kwargs"]["room_name"]
        self.room_group_name = f"chat_{self.room_name}"
        query = parse_qs(self.scope["query_string"].decode("utf-8", "replace"))
        name = (query.get("name") or [""])[0].strip()[:MAX_NAME]
        # channel_name is HOST.CONN: the connection's number makes the guest.
        self.name = name or f"guest-{self.channel_name.rsplit('.', 1)[-1]}"

        # Join room group
        async_to_sync(self.channel_layer.group_add)(
            self.room_group_name, self.channel_name
        )
        self.accept()
        async_to_sync(self.channel_layer.group_send)(
            self.room_group_name, {"type": "chat.presence", "kind": "join", "name": self.name}
        )

    def disconnect(self, close_code):
        # Leave room group
        async_to_sync(self.channel_layer.group_discard)(
            self.room_group_name, self.channel_name
        )
        async_to_sync(self.channel_layer.group_send)(
            self.room_group_name, {"type": "chat.presence", "kind": "leave", "name": self.name}
        )

    # Receive message from WebSocket
    def receive(self, text_data=None, bytes_data=None):
        if text_data is None:
            return
        try:
            message = json.loads(text_data)["message"]
        except (ValueError, TypeError, KeyError):
            message = text_data
        if not isinstance(message, str):
            message = json.dumps(message)

        # Send message to room group
        async_to_sync(self.channel_layer.group_send)(
            self.room_group_name, {"type": "chat.message", "name": self.name, "message": message}
        )

    # Receive message from room group
    def chat_message(self, event):
        self.send(
            text_data=json.dumps({"type": "message", "name": event["name"], "text": event["message"]})
        )

    def chat_presence(self, event):
        self.send(text_data=json.dumps({"type": event["kind"], "name": event["name"]}))
