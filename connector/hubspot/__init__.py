"""HubSpot destination: company and contact properties, tasks from plays, the SDK client."""
